package password

// NeedsRehash reports whether encoded was made with other parameters than h's. Until the
// parameters are compared, no stored hash is reported: logins then never re-hash.
func (h *Hasher) NeedsRehash(encoded string) bool { return false }
