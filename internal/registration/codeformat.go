package registration

// ValidCode reports whether code has the form of an activation code: exactly CodeLength
// ASCII digits. The email renderer refuses to send anything else.
func ValidCode(code string) bool { return validCodeFormat(code) }
