package httpapi

import (
	"strings"

	"golang.org/x/text/language"

	"github.com/regapi/regapi/internal/registration"
)

// emailLanguages are the languages of registration.Languages as tags, in the same order: the
// first, English, is also what the matcher falls back to.
var emailLanguages = func() []language.Tag {
	tags := make([]language.Tag, len(registration.Languages))
	for i, l := range registration.Languages {
		tags[i] = language.MustParse(string(l))
	}
	return tags
}()

var languageMatcher = language.NewMatcher(emailLanguages)

// emailLanguage picks the language of a new account's emails from the values of a request's
// Accept-Language header (RFC 9110, with quality values): the best one regapi writes in, or
// English when the header is absent, unreadable or asks for none of them.
func emailLanguage(acceptLanguage ...string) registration.Language {
	tags, _, err := language.ParseAcceptLanguage(strings.Join(acceptLanguage, ","))
	if err != nil || len(tags) == 0 {
		return registration.English
	}
	_, i, confidence := languageMatcher.Match(tags...)
	if confidence == language.No {
		return registration.English
	}
	return registration.Languages[i]
}
