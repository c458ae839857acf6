package ciba

import (
	"bytes"
	"context"
	"fmt"
	htmltemplate "html/template"
	"log/slog"
	"net/url"
	"os"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/locale"
	"github.com/gatehouse-auth/gatehouse/core/mail"
	"github.com/gatehouse-auth/gatehouse/core/oauth"
	"github.com/gatehouse-auth/gatehouse/core/store"
	"github.com/gatehouse-auth/gatehouse/sdk/go/hook"
)

// defaultSubject is the approval e-mail's subject when neither the plugin
// nor ciba.delivery.email.subject names one.
const defaultSubject = `{{.L.Text "email.subject" "client" (or .ClientName .ClientID)}}`

// emailData is what the approval e-mail's templates are given.
type emailData struct {
	User           emailUser
	ClientID       string
	ClientName     string
	BindingMessage string
	Scope          string
	ApprovalURL    string
	ExpiresAt      time.Time
	// L speaks the e-mail's language: the delivery's language, else
	// ui.default_language. The templates write every text through it.
	L *locale.Localizer
}

type emailUser struct {
	Sub   string
	Name  string // the display name, else the username, else the sub
	Email string
}

// emailTemplates render the approval e-mail: the embedded ones, or the
// operator's files (ciba.delivery.email).
type emailTemplates struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

func parseEmailTemplates(c config.EmailTemplates, langs *locale.Bundle) (*emailTemplates, error) {
	read := func(path, embedded string) (string, error) {
		if path == "" {
			b, err := templates.ReadFile(embedded)
			return string(b), err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("ciba: email template: %w", err)
		}
		return string(b), nil
	}
	subject := c.Subject
	if subject == "" {
		subject = defaultSubject
	}
	var t emailTemplates
	var err error
	if t.subject, err = texttemplate.New("subject").Option("missingkey=error").Parse(subject); err != nil {
		return nil, fmt.Errorf("ciba: ciba.delivery.email.subject: %w", err)
	}
	src, err := read(c.TextTemplate, "templates/email.txt")
	if err != nil {
		return nil, err
	}
	if t.text, err = texttemplate.New("text").Option("missingkey=error").Parse(src); err != nil {
		return nil, fmt.Errorf("ciba: email text template: %w", err)
	}
	if src, err = read(c.HTMLTemplate, "templates/email.html"); err != nil {
		return nil, err
	}
	if t.html, err = htmltemplate.New("html").Funcs(locale.Markup).Option("missingkey=error").Parse(src); err != nil {
		return nil, fmt.Errorf("ciba: email HTML template: %w", err)
	}
	// Render once in every language now, so that a template that fails on
	// real data fails at start, not at the first request.
	for _, lang := range langs.Languages() {
		d := sampleEmail
		d.L = langs.Lookup(lang)
		if _, err := t.render(d, "", "From <from@example.com>", "to@example.com", time.Now()); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

var sampleEmail = emailData{
	User: emailUser{Sub: "user:default/sample", Name: "Sample", Email: "to@example.com"}, ClientID: "app", ClientName: "App",
	BindingMessage: "W4SCT", Scope: "openid", ApprovalURL: "https://gatehouse.example.com/oauth2/backchannel/x", ExpiresAt: time.Unix(0, 0).UTC(),
}

// render writes the whole message. A subject (the plugin's, or the
// rendered template) with a line break is refused: it would end the
// header.
func (t *emailTemplates) render(d emailData, subject, from, to string, now time.Time) ([]byte, error) {
	if subject == "" {
		var b strings.Builder
		if err := t.subject.Execute(&b, d); err != nil {
			return nil, fmt.Errorf("ciba: email subject: %w", err)
		}
		// Client names are the client's: a control character is dropped
		// rather than let into a header.
		subject = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return -1
			}
			return r
		}, b.String())
	}
	var text, html bytes.Buffer
	if err := t.text.Execute(&text, d); err != nil {
		return nil, fmt.Errorf("ciba: email text: %w", err)
	}
	if err := t.html.Execute(&html, d); err != nil {
		return nil, fmt.Errorf("ciba: email HTML: %w", err)
	}
	return mail.Message{From: from, To: to, Subject: subject, Text: text.String(), HTML: html.String(), Date: now}.Bytes()
}

// queueEmail renders the approval e-mail for one email delivery and
// queues it. A delivery that cannot be sent (no mail server, an address or
// subject that cannot go into a header) is refused: logged, counted,
// dropped; the request stands.
func (s *Service) queueEmail(ctx context.Context, in *hook.NotifyInput, to, subject, lang string, i int) error {
	refuse := func(why string, args ...any) error {
		notificationsTotal.WithLabelValues(store.DeliveryEmail, "refused").Inc()
		slog.WarnContext(ctx, "ciba: notify email refused: "+why,
			append([]any{"client_id", in.Client.ID, "sub", in.User.Sub, "delivery", i}, args...)...)
		return nil
	}
	if s.queue.mailer == nil {
		return refuse("no mail server is configured (ciba.delivery.smtp.host)")
	}
	rcpt, err := mail.Address(to)
	if err != nil {
		return refuse("invalid recipient address", "error", err)
	}
	if strings.ContainsAny(subject, "\r\n") {
		return refuse("the subject has a line break", "subject", fmt.Sprintf("%q", subject))
	}
	p := in.User.Profile
	name := p.DisplayName
	for _, n := range []string{p.Username, in.User.Sub} {
		if name == "" {
			name = n
		}
	}
	d := emailData{
		User:     emailUser{Sub: in.User.Sub, Name: name, Email: p.Email},
		ClientID: in.Client.ID, ClientName: in.Client.Name, BindingMessage: in.BindingMessage,
		Scope: in.Scope, ApprovalURL: in.ApprovalURL, ExpiresAt: in.ExpiresAt.Time,
		L: s.langs.Lookup(lang),
	}
	msg, err := s.emails.render(d, subject, s.queue.mailer.From(), rcpt, s.now())
	if err != nil {
		return refuse("cannot write the message", "error", err)
	}
	if err := s.queue.Enqueue(ctx, store.Delivery{Kind: store.DeliveryEmail, To: rcpt, Body: msg}); err != nil {
		return oauth.ErrServerError().WithParent(err)
	}
	notificationsTotal.WithLabelValues(store.DeliveryEmail, "queued").Inc()
	return nil
}

// heloName is the host of the public URL, the name the server gives in
// EHLO unless ciba.delivery.smtp.helo_name says otherwise.
func heloName(cfg *config.Config) string {
	u, err := url.Parse(cfg.Server.PublicURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
