package registration

// Language is the language an account's emails are written in, as a BCP 47 base language.
type Language string

// The languages regapi writes its emails in.
const (
	English Language = "en"
	French  Language = "fr"
)

// Languages lists every language regapi writes its emails in, the default first.
var Languages = []Language{English, French}

// Supported reports whether regapi writes emails in l.
func (l Language) Supported() bool { return l == English || l == French }

// OrDefault returns l when regapi writes emails in it, else English, the default: an email
// sealed before languages existed carries none, and was written in English.
func (l Language) OrDefault() Language {
	if l.Supported() {
		return l
	}
	return English
}
