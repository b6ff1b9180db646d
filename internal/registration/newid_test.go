package registration

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func TestNewIDIsTimeOrderedUUIDv7(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		id := newID(at)
		raw, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
		if err != nil || len(raw) != 16 || len(id) != 36 || strings.Count(id, "-") != 4 {
			t.Fatalf("newID = %q: not a UUID", id)
		}
		if raw[6]>>4 != 7 || raw[8]>>6 != 0b10 {
			t.Fatalf("newID = %q: version %d, variant %b; want 7 and 10", id, raw[6]>>4, raw[8]>>6)
		}
		var ms int64
		for _, b := range raw[:6] {
			ms = ms<<8 | int64(b)
		}
		if ms != at.UnixMilli() {
			t.Fatalf("newID = %q carries %d ms, want %d", id, ms, at.UnixMilli())
		}
		if id <= prev || seen[id] {
			t.Fatalf("newID = %q after %q: not increasing with time", id, prev)
		}
		seen[id], prev = true, id
	}
	// Within one millisecond the 74 random bits keep IDs apart.
	for range 1000 {
		if id := newID(t0); seen[id] {
			t.Fatalf("newID repeated %q", id)
		} else {
			seen[id] = true
		}
	}
}
