package postgres

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/regapi/regapi/internal/registration"
)

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		want    []int // versions in order
		wantErr string
	}{
		{"ordered by version", fstest.MapFS{
			"0010_b.up.sql": file("b"), "0010_b.down.sql": file("b"),
			"0002_a.up.sql": file("a"), "0002_a.down.sql": file("a"),
		}, []int{2, 10}, ""},
		{"missing down", fstest.MapFS{"0001_a.up.sql": file("a")}, nil, "want both"},
		{"stray file", fstest.MapFS{"README.md": file("x")}, nil, "want NNNN_name"},
		{"two names", fstest.MapFS{"0001_a.up.sql": file("a"), "0001_b.down.sql": file("b")}, nil, "two names"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := loadMigrations(tt.fsys)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("loadMigrations: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var versions []int
			for _, m := range got {
				versions = append(versions, m.version)
			}
			if len(versions) != len(tt.want) || versions[0] != tt.want[0] || versions[1] != tt.want[1] {
				t.Fatalf("versions %v, want %v", versions, tt.want)
			}
		})
	}
}

func TestEmbeddedMigrationsLoad(t *testing.T) {
	t.Parallel()
	all, err := loadMigrations(Migrations())
	if err != nil || len(all) == 0 {
		t.Fatalf("embedded migrations: %d, %v", len(all), err)
	}
}

func TestStoreError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want error // nil: only the original error
	}{
		{"email taken", &pgconn.PgError{Code: "23505", ConstraintName: "users_email_key"}, registration.ErrEmailTaken},
		{"other unique constraint", &pgconn.PgError{Code: "23505", ConstraintName: "users_pkey"}, nil},
		{"not a unique violation", &pgconn.PgError{Code: "23514", ConstraintName: "users_email_key"}, nil},
		{"not a PgError", errors.New("connection reset"), nil},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, registration.ErrUnavailable},
		{"connection failure", &pgconn.PgError{Code: "08006"}, registration.ErrUnavailable},
		{"connection dropped", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), registration.ErrUnavailable},
		{"network", &net.OpError{Op: "dial", Err: errors.New("refused")}, registration.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := storeError("op", tt.err)
			if !errors.Is(got, tt.err) {
				t.Errorf("storeError lost the original error: %v", got)
			}
			if tt.want != nil && !errors.Is(got, tt.want) {
				t.Errorf("storeError = %v, want %v", got, tt.want)
			}
			if tt.want == nil && (errors.Is(got, registration.ErrEmailTaken) || errors.Is(got, registration.ErrUnavailable)) {
				t.Errorf("storeError = %v, want no domain error", got)
			}
		})
	}
}
