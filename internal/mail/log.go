package mail

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// logProvider writes emails out instead of sending them, for development and tests.
type logProvider struct {
	// A JSON slog handler writes each record as one line under its own lock, so emails
	// interleave with the service's JSON logs as a stream of whole JSON lines.
	handler slog.Handler
}

// NewLogProvider returns a Provider that writes each email to w as one JSON line carrying
// the code as a top-level "code" field (a person finds it at a glance), the sender, recipient,
// subject, plain-text part and idempotency key. It is
// safe for concurrent use. Send fails, with a temporary error, only when writing to w fails
// or ctx is done.
func NewLogProvider(w io.Writer) Provider {
	return &logProvider{handler: slog.NewJSONHandler(w, nil)}
}

func (p *logProvider) Send(ctx context.Context, m Message, idempotencyKey string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "email", 0)
	r.AddAttrs(
		slog.String("kind", m.Kind),
		slog.String("code", m.Code),
		slog.String("from", m.From),
		slog.String("to", m.To),
		slog.String("subject", m.Subject),
		slog.String("text", m.Text),
		slog.String("idempotency_key", idempotencyKey),
	)
	if err := p.handler.Handle(ctx, r); err != nil {
		return fmt.Errorf("write email: %w", err)
	}
	return nil
}
