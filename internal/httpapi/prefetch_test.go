package httpapi

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regapi/regapi/internal/registration"
)

// hangupAccounts authenticates by waiting until the request's context ends, as a caller
// queued for a password hash does, and reports that end on ended.
type hangupAccounts struct {
	stubAccounts
	started chan struct{}
	ended   chan struct{}
}

func (h *hangupAccounts) Authenticate(ctx context.Context, _, _ string) (registration.User, error) {
	h.started <- struct{}{}
	select {
	case <-ctx.Done():
		h.ended <- struct{}{}
		return registration.User{}, ctx.Err()
	case <-time.After(10 * time.Second): // gives up, so that a failing test ends
		return registration.User{}, registration.ErrUnauthorized
	}
}

func TestActivationWaitingForItsHashEndsWhenTheClientHangsUp(t *testing.T) {
	t.Parallel()
	accounts := &hangupAccounts{started: make(chan struct{}, 1), ended: make(chan struct{}, 1)}
	srv := httptest.NewServer(NewServer(slog.New(slog.DiscardHandler), accounts, nil, Limits{}, prometheus.NewRegistry()))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/users/me/activate", strings.NewReader(`{"code":"0427"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(testEmail+":"+testPassword)))
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-accounts.started
	cancel()
	<-done
	select {
	case <-accounts.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the request's context did not end after its client hung up: its hash would be computed for nobody")
	}
}

func TestReadBodyFirstKeepsWhatDecodeJSONSays(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body io.Reader
		want string // errorCode of decodeJSON, "ok" for none
	}{
		{"object", strings.NewReader(`{"code":"0427"}`), "ok"},
		{"too large", strings.NewReader(`{"code":"` + strings.Repeat("1", maxBodyBytes) + `"}`), "request_too_large"},
		{"read error", io.MultiReader(strings.NewReader(`{"co`), failingReader{errors.New("connection reset")}), "malformed_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/v1/users/me/activate", tt.body)
			r.Header.Set("Content-Type", "application/json")
			readBodyFirst(r)
			var dst struct {
				Code string `json:"code"`
			}
			if got := errorCode(decodeJSON(httptest.NewRecorder(), r, &dst)); got != tt.want {
				t.Errorf("decodeJSON after readBodyFirst: %s, want %s", got, tt.want)
			}
		})
	}
}
