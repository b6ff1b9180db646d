package outbox

import (
	"errors"
	"fmt"
	"html"
	"regexp"
	"strings"

	"github.com/regapi/regapi/internal/registration"
)

// partError is a problem with one part of an email: partSubject, partText or partHTML.
type partError struct {
	part string
	err  error
}

func (e *partError) Error() string { return e.part + ": " + e.err.Error() }

func (e *partError) Unwrap() error { return e.err }

// checkRendered holds a rendered email to the rules of the contract: a subject and a text
// that are not empty; in an email that carries code, code as the only standalone 4-digit
// number of its text and of its HTML, once each (the subject may hold it too, nothing
// else); in a notice, no such number at all. It returns a *partError.
func checkRendered(kind registration.EmailKind, code, subject, text, html string) error {
	if strings.TrimSpace(subject) == "" {
		return &partError{partSubject, errors.New("renders an empty subject")}
	}
	if strings.TrimSpace(text) == "" {
		return &partError{partText, errors.New("renders an empty text")}
	}
	for _, p := range []struct{ part, body string }{{partSubject, subject}, {partText, text}, {partHTML, htmlText(html)}} {
		codes, other := countCode(p.body, code)
		switch {
		case other != "":
			return &partError{p.part, fmt.Errorf("holds the 4-digit number %s, which is not the code", other)}
		case codes > 1 || (codes == 0 && kind.CarriesCode() && p.part != partSubject):
			return &partError{p.part, fmt.Errorf("holds the code %d times, want once", codes)}
		}
	}
	return nil
}

// countCode returns how many of the standalone 4-digit numbers in s are code, and the first
// that is not, if any (with an empty code, every one is another).
func countCode(s, code string) (codes int, other string) {
	for _, n := range fourDigitNumbers(s) {
		if n != code {
			return codes, n
		}
		codes++
	}
	return codes, ""
}

// digitRuns finds runs of digits; a standalone 4-digit number is a run of exactly four.
var digitRuns = regexp.MustCompile(`[0-9]+`)

// fourDigitNumbers returns the standalone 4-digit numbers of s, in order.
func fourDigitNumbers(s string) []string {
	var found []string
	for _, n := range digitRuns.FindAllString(s, -1) {
		if len(n) == 4 {
			found = append(found, n)
		}
	}
	return found
}

// hiddenHTML matches what a reader of an HTML part never sees: comments, style and script
// blocks, and the tags themselves.
var hiddenHTML = regexp.MustCompile(`(?is)<!--.*?-->|<style\b.*?</style>|<script\b.*?</script>|<[^>]*>`)

// htmlText returns the text a reader sees in the HTML part h, roughly: without markup, with
// entities decoded.
func htmlText(h string) string {
	return html.UnescapeString(hiddenHTML.ReplaceAllString(h, " "))
}
