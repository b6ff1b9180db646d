package httpapi

import (
	"bytes"
	"io"
	"net/http"
)

// readBodyFirst reads r's body into memory, at most one byte past maxBodyBytes, and gives it
// back to r as its body, with any read error after it, for decodeJSON to judge as before.
//
// The server notices that a client hung up, and cancels the request's context, only once the
// handler has read the body. An activation waiting in the password hashing queue with its
// body unread would keep its place after its client gave up, and be hashed for nobody: under
// overload, that is a whole queue of wasted hashes. Reading the body first changes nothing
// the client is told, since it is still judged after the credentials.
func readBodyFirst(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	var rest io.Reader = bytes.NewReader(data)
	if err != nil {
		rest = io.MultiReader(rest, failingReader{err})
	}
	r.Body = io.NopCloser(rest)
}

// failingReader fails every read with err.
type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }
