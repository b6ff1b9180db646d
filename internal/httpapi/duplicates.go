package httpapi

import (
	"bytes"
	"encoding/json"
	"unicode"
	"unicode/utf8"
)

// hasDuplicateMember reports whether some object in body, a valid JSON text, gives a member
// name twice. encoding/json keeps the last one silently, where a proxy or a firewall in front
// may read the first: the two would judge different requests. Names count as the same when
// encoding/json would match both to one field, that is regardless of case.
func hasDuplicateMember(body []byte) bool {
	type frame struct {
		wantKey bool            // the next token is a member name
		seen    map[string]bool // nil for an array
	}
	var stack []frame
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false // the body was judged valid already; nothing more to find
		}
		d, isDelim := tok.(json.Delim)
		switch top := len(stack) - 1; {
		case isDelim && (d == '{' || d == '['):
			f := frame{}
			if d == '{' {
				f = frame{wantKey: true, seen: map[string]bool{}}
			}
			stack = append(stack, f)
			continue
		case isDelim:
			stack = stack[:top]
		case top >= 0 && stack[top].wantKey:
			name := foldName(tok.(string))
			if stack[top].seen[name] {
				return true
			}
			stack[top].seen[name], stack[top].wantKey = true, false
			continue
		}
		// A value has ended: in an object, a name comes next.
		if top := len(stack) - 1; top >= 0 && stack[top].seen != nil {
			stack[top].wantKey = true
		}
	}
}

// foldName folds a member name as encoding/json does when it matches names to fields: ASCII
// letters to upper case, any other rune to the smallest rune of its case-folding orbit (so
// the Kelvin sign is K).
func foldName(name string) string {
	out := make([]byte, 0, len(name))
	for _, r := range name {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			out = append(out, byte(r)) // #nosec G115 -- r < utf8.RuneSelf fits a byte
			continue
		}
		out = utf8.AppendRune(out, foldRune(r))
	}
	return string(out)
}

// foldRune returns the smallest rune of r's case-folding orbit.
func foldRune(r rune) rune {
	for {
		next := unicode.SimpleFold(r)
		if next <= r {
			return next
		}
		r = next
	}
}
