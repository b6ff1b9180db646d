package postgres

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/regapi/regapi/internal/registration"
)

// A pooled connection that broke when the server went away is refused by pgx with
// ErrConnClosed; seen under a database outage, it must be a 503, not a 500.
func TestConnClosedIsUnavailable(t *testing.T) {
	t.Parallel()
	err := storeError("update address", fmt.Errorf("begin: %w", pgconn.ErrConnClosed))
	if !errors.Is(err, registration.ErrUnavailable) {
		t.Fatalf("storeError = %v, want ErrUnavailable", err)
	}
}
