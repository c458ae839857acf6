package server

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
)

// BackupPath is the online backup, under /admin.
const BackupPath = "/backup"

// backupWriteWindow is how long one write of a backup may take: each
// write moves the connection's write deadline (server.WriteTimeout is
// for the whole of an ordinary response) so that a large backup is not
// cut off, and a stalled client still is.
const backupWriteWindow = 30 * time.Second

// backup is GET /admin/backup: a consistent snapshot of the database in
// the backend's backup format (Badger's, with a trailer that gatehouse
// restore checks), streamed while it is taken and while the server
// serves. A backup that fails midway is cut short, without its trailer,
// so the client can tell.
func (s *Server) backup(b store.Backuper) fiber.Handler {
	return func(c *fiber.Ctx) error {
		oauth.NoStore(c)
		c.Set(fiber.HeaderContentType, "application/octet-stream")
		c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="gatehouse-%s.backup"`, time.Now().UTC().Format("20060102T150405Z")))
		conn := c.Context().Conn()
		reqID := c.Locals("request_id")
		c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
			out := &deadlineWriter{w: w, extend: func() { _ = conn.SetWriteDeadline(time.Now().Add(backupWriteWindow)) }}
			// The request's context ends with the handler; the backup ends
			// when a write to the client fails, or the server closes the
			// connection at shutdown.
			if err := b.WriteBackup(context.Background(), out); err != nil {
				slog.Warn("admin: backup cut short", "request_id", reqID, "error", err)
				return
			}
			_ = w.Flush()
		})
		return nil
	}
}

// deadlineWriter flushes what it writes through and moves the write
// deadline before each write.
type deadlineWriter struct {
	w      *bufio.Writer
	extend func()
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.extend()
	n, err := d.w.Write(p)
	if err == nil && d.w.Buffered() >= 32<<10 {
		err = d.w.Flush()
	}
	return n, err
}
