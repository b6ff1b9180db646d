package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// smtpProvider sends over SMTP to one relay, on a new connection per email.
type smtpProvider struct {
	host      string
	port      int
	implicit  bool // smtps: TLS from the first byte
	starttls  bool // smtp: STARTTLS required before anything else is said
	user      string
	password  string
	tlsConfig *tls.Config
}

// NewSMTPProvider returns a Provider that sends each email, with its text and HTML parts and
// a Message-ID derived from the idempotency key, to the relay rawURL names:
// smtp://user:password@host:587 (STARTTLS required, unless ?starttls=off) or
// smtps://user:password@host:465 (TLS from the start). With a user, it authenticates
// (SCRAM, PLAIN or LOGIN; PLAIN and LOGIN only over TLS or to localhost). roots (nil for the
// system's) verifies the relay's certificate.
//
// Send is bounded by its context's deadline. It returns nil once the relay accepted the
// message, a *PermanentError with the relay's reply for a 5xx reply (a wrong password
// included), and a temporary error for 4xx replies and connection or TLS failures. It fails
// with an error, which never repeats the password, when rawURL is not such a URL.
func NewSMTPProvider(rawURL string, roots *x509.CertPool) (Provider, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" || u.Path != "" && u.Path != "/" {
		return nil, errors.New("want smtp://user:password@host:587 or smtps://user:password@host:465")
	}
	p := &smtpProvider{host: u.Hostname(), user: u.User.Username()}
	p.password, _ = u.User.Password()
	switch u.Scheme {
	case "smtp":
		p.port, p.starttls = 587, true
	case "smtps":
		p.port, p.implicit = 465, true
	default:
		return nil, fmt.Errorf("want an smtp:// or smtps:// URL, got scheme %q", u.Scheme)
	}
	if err := p.options(u); err != nil {
		return nil, err
	}
	p.tlsConfig = &tls.Config{ServerName: p.host, RootCAs: roots, MinVersion: tls.VersionTLS12}
	return p, nil
}

// options reads the port and the query of u.
func (p *smtpProvider) options(u *url.URL) error {
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("want a port between 1 and 65535, got %q", port)
		}
		p.port = n
	}
	for name, values := range u.Query() {
		if name != "starttls" || p.implicit || len(values) != 1 || values[0] != "off" {
			return fmt.Errorf("unknown option %q: the only one is starttls=off, for smtp://", name)
		}
		p.starttls = false
	}
	return nil
}

func (p *smtpProvider) Send(ctx context.Context, m Message, idempotencyKey string) error {
	msg, err := newSMTPMessage(m, idempotencyKey)
	if err != nil {
		return &PermanentError{Err: err}
	}
	client, err := p.client(ctx)
	if err != nil {
		return err
	}
	c, err := client.DialToSMTPClientWithContext(ctx)
	if err == nil {
		defer c.Close()
		err = transact(c, msg)
	} else {
		err = classifySMTP("connect", err)
	}
	if err != nil && !IsPermanent(err) && ctx.Err() != nil {
		// The connection was cut at the deadline: say so rather than "closed connection".
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	if err == nil {
		_ = c.Quit() // accepted already: a failing QUIT changes nothing
	}
	return err
}

// client configures go-mail for one send within ctx's deadline.
func (p *smtpProvider) client(ctx context.Context) (*gomail.Client, error) {
	timeout := 15 * time.Second
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("smtp: %w", context.DeadlineExceeded)
	}
	// ctx cuts the connection (see dial); go-mail's own deadline is only a backstop, a little
	// later, so that the error always says which deadline ended the send.
	timeout += time.Second
	opts := []gomail.Option{
		gomail.WithPort(p.port), gomail.WithTimeout(timeout), gomail.WithTLSConfig(p.tlsConfig),
		gomail.WithTLSPolicy(gomail.NoTLS), gomail.WithDialContextFunc(p.dial(ctx)),
	}
	if p.starttls {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if p.user != "" {
		opts = append(opts, gomail.WithUsername(p.user), gomail.WithPassword(p.password),
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1,
				gomail.SMTPAuthPlain, gomail.SMTPAuthLogin))
	}
	c, err := gomail.NewClient(p.host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return c, nil
}

// dial connects within ctx and cuts the connection when ctx ends, whatever deadlines go-mail
// sets on it; for smtps it speaks TLS from the first byte.
func (p *smtpProvider) dial(ctx context.Context) gomail.DialContextFunc {
	return func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(dialCtx, network, addr)
		if err != nil {
			return nil, err
		}
		context.AfterFunc(ctx, func() { _ = conn.Close() })
		if !p.implicit {
			return conn, nil
		}
		tc := tls.Client(conn, p.tlsConfig)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			_ = conn.Close()
			return nil, err
		}
		return tc, nil
	}
}

// newSMTPMessage composes m; an address that cannot be parsed never will be.
func newSMTPMessage(m Message, idempotencyKey string) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(m.From); err != nil {
		return nil, fmt.Errorf("sender address: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("recipient address: %w", err)
	}
	msg.Subject(m.Subject)
	id := messageID(idempotencyKey)
	msg.SetMessageIDWithValue(id[1 : len(id)-1])
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// transact runs MAIL, RCPT and DATA for msg on an open, authenticated connection.
func transact(c *smtp.Client, msg *gomail.Msg) error {
	from, err := msg.GetSender(false)
	if err != nil {
		return &PermanentError{Err: fmt.Errorf("sender address: %w", err)}
	}
	rcpts, err := msg.GetRecipients()
	if err != nil {
		return &PermanentError{Err: fmt.Errorf("recipient address: %w", err)}
	}
	if err := c.Mail(from); err != nil {
		return classifySMTP("MAIL FROM", err)
	}
	for _, rcpt := range rcpts {
		if err := c.Rcpt(rcpt); err != nil {
			return classifySMTP("RCPT TO", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return classifySMTP("DATA", err)
	}
	if _, err := msg.WriteTo(w); err != nil {
		return classifySMTP("message", err)
	}
	return classifySMTP("end of message", w.Close())
}

// classifySMTP turns the error of one step into Send's result: a 5xx reply is permanent, a
// 4xx reply and anything else (a refused connection, a failed handshake, a timeout) is
// temporary.
func classifySMTP(step string, err error) error {
	if err == nil {
		return nil
	}
	var reply *textproto.Error
	if errors.As(err, &reply) {
		err = fmt.Errorf("smtp %s: the relay replied %d %s", step, reply.Code, reason([]byte(reply.Msg)))
		if reply.Code >= 500 {
			return &PermanentError{Err: err}
		}
		return err
	}
	return fmt.Errorf("smtp %s: %w", step, err)
}
