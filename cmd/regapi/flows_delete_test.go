package main

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestDeleteErasesEverything deletes an account that has been through every flow (a changed
// password, a live reset code, an address change on its way, emails sent and pending) and
// then looks through every table: nothing holds its id, its password hash or an email to it,
// but the quota history of its addresses, which stays; its credentials fail and its address
// may be registered again.
func TestDeleteErasesEverything(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	env["RESEND_COOLDOWN"] = "0s"
	a := startApp(t, env)
	db := openDB(t, env["DATABASE_URL"])
	email, asked, bystander := uniqueEmail("leaving"), uniqueEmail("leaving-to"), uniqueEmail("staying")
	id := a.signUp(t, email, "password-1234")
	a.signUp(t, bystander, "password-1234")
	a.changePassword(t, email, "password-1234", "password-5678").want(t, http.StatusNoContent, "")
	a.requestReset(t, email).want(t, http.StatusAccepted, "")
	reset := a.waitEmail(t, email, "password_reset_code", 1).Code
	a.requestReset(t, email).want(t, http.StatusAccepted, "") // a second one, maybe not yet sent
	a.requestEmailChange(t, email, "password-5678", asked).want(t, http.StatusAccepted, "")
	a.waitEmail(t, email, "password_changed", 1)

	var hash string
	if err := db.QueryRow(context.Background(), `SELECT password_hash FROM users WHERE id = $1`, id).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	history := map[string]int{}
	for _, addr := range []string{email, asked} {
		history[addr] = count(t, db, `SELECT cardinality(issued) FROM address_codes WHERE email = $1`, addr)
	}
	if n := count(t, db, `SELECT count(*) FROM outbox WHERE user_id = $1`, id); n != 5 {
		t.Fatalf("%d emails about the account before deletion, want 5", n)
	}

	a.deleteMe(t, email, "password-5678").want(t, http.StatusNoContent, "")

	for _, needle := range []string{id, hash, email, asked} {
		for table, n := range rowsHolding(t, db, needle) {
			if table == "address_codes" && needle != id && needle != hash {
				continue // the quota history, keyed by the address, stays
			}
			t.Errorf("after deletion, %d rows of %s hold %q", n, table, needle)
		}
	}
	for addr, n := range history {
		if got := count(t, db, `SELECT cardinality(issued) FROM address_codes WHERE email = $1`, addr); got != n {
			t.Errorf("quota history of %s: %d codes after deletion, %d before", addr, got, n)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM users WHERE email = $1`, bystander); n != 1 {
		t.Fatal("the deletion took another account with it")
	}

	a.me(t, email, "password-5678", http.StatusUnauthorized)
	a.deleteMe(t, email, "password-5678").want(t, http.StatusUnauthorized, "unauthorized")
	a.confirmReset(t, email, reset, "password-9999").want(t, http.StatusUnprocessableEntity, "invalid_code")
	a.register(t, email, "password-1234").want(t, http.StatusCreated, "")
	a.register(t, asked, "password-1234").want(t, http.StatusCreated, "")
	a.me(t, bystander, "password-1234", http.StatusOK)
}

// rowsHolding counts, in every table of the database, the rows whose text holds needle.
func rowsHolding(t *testing.T, db *pgxpool.Pool, needle string) map[string]int {
	t.Helper()
	ctx := context.Background()
	rows, _ := db.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		t.Fatalf("list tables: %v %v", tables, err)
	}
	found := map[string]int{}
	for _, table := range tables {
		q := `SELECT count(*) FROM ` + pgx.Identifier{table}.Sanitize() + ` x WHERE strpos(x::text, $1) > 0`
		if n := count(t, db, q, needle); n > 0 {
			found[table] = n
		}
	}
	return found
}

// TestDeleteRacesEachFlow races a deletion against an activation, a password reset and an
// address change, many times each: every race ends in one consistent state, the account gone
// with everything it held, or the other flow's change made and the account still there.
func TestDeleteRacesEachFlow(t *testing.T) {
	t.Parallel()
	const pass, newPass = "password-1234", "password-5678"
	type setup struct {
		a  *app
		db *pgxpool.Pool
	}
	// erased fails t unless no row holds account id.
	erased := func(t *testing.T, s setup, id string) {
		t.Helper()
		if found := rowsHolding(t, s.db, id); len(found) > 0 {
			t.Fatalf("the account was deleted, but rows still hold its id: %v", found)
		}
	}
	race := func(fn1, fn2 func() response) (response, response) {
		var r1, r2 response
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() { <-start; r1 = fn1() })
		wg.Go(func() { <-start; r2 = fn2() })
		close(start)
		wg.Wait()
		return r1, r2
	}
	flows := []struct {
		name string
		try  func(t *testing.T, s setup) string // returns the outcome
	}{
		{"activation", func(t *testing.T, s setup) string {
			email := uniqueEmail("del-activate")
			reg := s.a.register(t, email, pass)
			reg.want(t, http.StatusCreated, "")
			code := s.a.waitEmail(t, email, "activation_code", 1).Code
			del, act := race(func() response { return s.a.deleteMe(t, email, pass) },
				func() response { return s.a.activate(t, email, pass, code) })
			// The account is deleted either way; the activation came first or found it gone.
			if del.status != http.StatusNoContent || (act.status != http.StatusOK && act.status != http.StatusUnauthorized) {
				t.Fatalf("delete %d, activate %d %s", del.status, act.status, act.raw)
			}
			erased(t, s, reg.body["id"].(string))
			return "activate " + http.StatusText(act.status)
		}},
		{"password reset", func(t *testing.T, s setup) string {
			email := uniqueEmail("del-reset")
			id := s.a.signUp(t, email, pass)
			s.a.requestReset(t, email).want(t, http.StatusAccepted, "")
			code := s.a.waitEmail(t, email, "password_reset_code", 1).Code
			del, conf := race(func() response { return s.a.deleteMe(t, email, pass) },
				func() response { return s.a.confirmReset(t, email, code, newPass) })
			switch {
			case del.status == http.StatusNoContent && (conf.status == http.StatusOK || conf.body["code"] == "invalid_code"):
				erased(t, s, id)
			case del.status == http.StatusUnauthorized && conf.status == http.StatusOK:
				// The reset came first and the deletion's credentials were the old ones.
				s.a.me(t, email, newPass, http.StatusOK)
				s.a.confirmReset(t, email, code, pass).want(t, http.StatusUnprocessableEntity, "invalid_code")
			default:
				t.Fatalf("delete %d %s, reset %d %s", del.status, del.raw, conf.status, conf.raw)
			}
			return "delete " + http.StatusText(del.status) + ", reset " + http.StatusText(conf.status)
		}},
		{"address change", func(t *testing.T, s setup) string {
			from, to := uniqueEmail("del-from"), uniqueEmail("del-to")
			id := s.a.signUp(t, from, pass)
			s.a.requestEmailChange(t, from, pass, to).want(t, http.StatusAccepted, "")
			code := s.a.waitEmail(t, to, "email_change_code", 1).Code
			del, conf := race(func() response { return s.a.deleteMe(t, from, pass) },
				func() response { return s.a.confirmEmailChange(t, from, pass, code) })
			switch {
			case del.status == http.StatusNoContent && conf.status == http.StatusUnauthorized:
				erased(t, s, id)
				s.a.register(t, to, pass).want(t, http.StatusCreated, "")
			case del.status == http.StatusUnauthorized && conf.status == http.StatusOK:
				if me := s.a.me(t, to, pass, http.StatusOK); me.body["id"] != id {
					t.Fatalf("the account moved, but %s opens %s", to, me.raw)
				}
			default:
				t.Fatalf("delete %d %s, confirm %d %s", del.status, del.raw, conf.status, conf.raw)
			}
			s.a.me(t, from, pass, http.StatusUnauthorized)
			if n := count(t, s.db, `SELECT count(*) FROM users WHERE email = $1`, from); n != 0 {
				t.Fatalf("%d accounts left on the old address", n)
			}
			return "delete " + http.StatusText(del.status) + ", confirm " + http.StatusText(conf.status)
		}},
	}
	for _, f := range flows {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			env := baseEnv(t)
			s := setup{a: startApp(t, env), db: openDB(t, env["DATABASE_URL"])}
			outcomes := map[string]int{}
			for range 12 {
				outcomes[f.try(t, s)]++
			}
			t.Logf("outcomes: %v", outcomes)
		})
	}
}

// TestQuotaSurvivesDeleteAndReregister checks that deleting an account and registering its
// address again does not give the address a fresh daily quota of codes.
func TestQuotaSurvivesDeleteAndReregister(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	env["MAX_CODES_PER_DAY"], env["RESEND_COOLDOWN"] = "3", "0s"
	a := startApp(t, env)
	db := openDB(t, env["DATABASE_URL"])
	email := uniqueEmail("again")
	a.register(t, email, "password-1234").want(t, http.StatusCreated, "") // code 1 of 3
	a.do(t, http.MethodPost, "/v1/users/me/activation-code", "", email, "password-1234").want(t, http.StatusAccepted, "")
	a.deleteMe(t, email, "password-1234").want(t, http.StatusNoContent, "")
	a.register(t, email, "password-5678").want(t, http.StatusCreated, "") // code 3 of 3
	a.deleteMe(t, email, "password-5678").want(t, http.StatusNoContent, "")
	if n := count(t, db, `SELECT cardinality(issued) FROM address_codes WHERE email = $1`, email); n != 3 {
		t.Fatalf("quota history holds %d codes after two deletions, want 3", n)
	}
	r := a.register(t, email, "password-9999")
	r.want(t, http.StatusTooManyRequests, "resend_cooldown")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 resend_cooldown without Retry-After")
	}
	a.requestReset(t, email).want(t, http.StatusAccepted, "")
	if n := count(t, db, `SELECT count(*) FROM users WHERE email = $1`, email); n != 0 {
		t.Fatalf("%d accounts on the address after it was refused", n)
	}
}
