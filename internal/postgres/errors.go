package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/regapi/regapi/internal/registration"
)

// uniqueViolations maps the unique constraints a caller can run into to domain errors.
var uniqueViolations = map[string]error{
	"users_email_key": registration.ErrEmailTaken,
}

// storeError wraps err with op, turning a known unique violation into its domain error, and
// a lost or refused connection into registration.ErrUnavailable. Constraints are told apart
// by name, never by message text.
func storeError(op string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		if domainErr, ok := uniqueViolations[pgErr.ConstraintName]; ok {
			return fmt.Errorf("%s: %w: %w", op, domainErr, err)
		}
	}
	if unreachable(err) {
		return fmt.Errorf("%s: %w: %w", op, registration.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unreachable reports whether err means the database could not be reached or went away, as
// opposed to a query it refused: connection failures, timeouts, and the server-side classes
// for connection exceptions, shutdown and too many connections, and a statement that waited
// for a lock past lock_timeout or ran past statement_timeout (the database does not answer
// in time: a migration or a long transaction holds what the statement needs).
func unreachable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "53300", "55P03", "57014":
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	// ErrConnClosed: a pooled connection that broke with the server is refused before use.
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded)
}
