package server

// StartedConns is how many connections s is serving whose client has
// sent at least one byte that the server has read.
func StartedConns(s *Server) int {
	t := s.conns.Load()
	if t == nil {
		return 0
	}
	return len(t.matching(func(c *trackedConn) bool { return c.started.Load() }))
}
