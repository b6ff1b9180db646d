package outbox

import (
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/regapi/regapi/internal/registration"
)

// builtinFiles holds regapi's own templates, laid out as an operator's folder is:
// LANG/KIND.PART.tmpl (see templateName).
//
//go:embed templates
var builtinFiles embed.FS

// The parts of an email, each a template of its own.
const (
	partSubject = "subject"
	partText    = "txt"
	partHTML    = "html"
)

var parts = []string{partSubject, partText, partHTML}

// templateName is the file that writes part of the emails of kind in lang, relative to a
// templates folder: "fr/activation_code.txt.tmpl".
func templateName(lang registration.Language, kind registration.EmailKind, part string) string {
	return path.Join(string(lang), string(kind)+"."+part+".tmpl")
}

// templateKey names the templates of one kind of email in one language.
type templateKey struct {
	kind registration.EmailKind
	lang registration.Language
}

// emailTemplates is how one kind of email is written in one language.
type emailTemplates struct {
	subject, text *texttemplate.Template
	html          *htmltemplate.Template
}

// Templates is how every kind of email is written in every language: the built-in templates,
// each replaced by its twin in an operator's folder where there is one. Every template in it
// parsed and rendered a sample email that passed the checks of checkRendered.
type Templates struct {
	set map[templateKey]emailTemplates
}

// builtin is the built-in set, which every Templates starts from.
var builtin = func() *Templates {
	t, err := NewTemplates("")
	if err != nil {
		panic(err) // a broken built-in template is a bug caught by any test
	}
	return t
}()

// NewTemplates returns the templates of every kind and language: those in the folder dir,
// laid out as LANG/KIND.PART.tmpl with PART subject, txt or html, replace their built-in
// twins; an empty dir means the built-in templates alone. It parses every template and
// renders each email once with sample data, so that a template that would fail at send time
// fails here. The error names the file of each problem: a file that does not parse, uses a
// field its kind of email does not have, renders an empty subject or text, drops the code or
// holds another 4-digit number; a file or folder in dir that is not a template regapi knows.
func NewTemplates(dir string) (*Templates, error) {
	files := map[string]string{} // template name -> where it is read from, for errors
	var operator fs.FS
	var problems []string
	if dir != "" {
		if info, err := os.Stat(dir); err != nil || !info.IsDir() {
			return nil, fmt.Errorf("%s is not a readable folder", dir)
		}
		operator = os.DirFS(dir)
		problems = operatorFiles(operator, dir, files)
	}
	t := &Templates{set: map[templateKey]emailTemplates{}}
	for _, lang := range registration.Languages {
		for _, kind := range registration.EmailKinds {
			et, err := parseEmail(kind, lang, operator, files)
			if err == nil {
				err = checkSample(et, kind, lang, files)
			}
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			t.set[templateKey{kind, lang}] = et
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return t, nil
}

// operatorFiles records in files the path of each template in the operator's folder fsys
// (at dir), and returns a problem for each file or folder that is not a template regapi
// knows, so that a misspelt name is not silently ignored. Names starting with a dot (editor
// files, a mounted volume's own) are skipped.
func operatorFiles(fsys fs.FS, dir string, files map[string]string) []string {
	known := map[string]bool{}
	for _, lang := range registration.Languages {
		known[string(lang)] = true
		for _, kind := range registration.EmailKinds {
			for _, part := range parts {
				known[templateName(lang, kind, part)] = true
			}
		}
	}
	var problems []string
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", filepath.Join(dir, name), err))
		case name == ".":
		case strings.HasPrefix(d.Name(), "."):
			if d.IsDir() {
				return fs.SkipDir
			}
		case !known[name]:
			problems = append(problems, fmt.Sprintf("%s: not a template regapi knows (want LANG/KIND.PART.tmpl: LANG %s, KIND %s, PART %s)",
				filepath.Join(dir, name), joinLanguages(), joinKinds(), strings.Join(parts, ", ")))
			if d.IsDir() {
				return fs.SkipDir
			}
		case !d.IsDir():
			files[name] = filepath.Join(dir, name)
		}
		return nil
	})
	if err != nil {
		problems = append(problems, fmt.Sprintf("%s: %v", dir, err))
	}
	return problems
}

// parseEmail parses the three parts of kind in lang, each from the operator's folder when
// files lists it there, else built in. An error names the file.
func parseEmail(kind registration.EmailKind, lang registration.Language, operator fs.FS, files map[string]string) (emailTemplates, error) {
	var et emailTemplates
	for _, part := range parts {
		name := templateName(lang, kind, part)
		src, where, err := readTemplate(name, operator, files)
		if err != nil {
			return et, fmt.Errorf("%s: %w", where, err)
		}
		switch part {
		case partSubject:
			et.subject, err = texttemplate.New(name).Option("missingkey=error").Parse(src)
		case partText:
			et.text, err = texttemplate.New(name).Option("missingkey=error").Parse(src)
		case partHTML:
			et.html, err = htmltemplate.New(name).Option("missingkey=error").Parse(src)
		}
		if err != nil {
			return et, fmt.Errorf("%s: %w", where, err)
		}
	}
	return et, nil
}

// readTemplate returns the text of the template name and where it was read from.
func readTemplate(name string, operator fs.FS, files map[string]string) (string, string, error) {
	if where, ok := files[name]; ok {
		b, err := fs.ReadFile(operator, name)
		return string(b), where, err
	}
	b, err := builtinFiles.ReadFile("templates/" + name)
	return string(b), "built-in " + name, err
}

// SampleEmail returns an email of kind in lang with sample content: a sample code valid for
// validFor, or a masked sample address. Rendered, it shows how the templates read.
func SampleEmail(kind registration.EmailKind, lang registration.Language, validFor time.Duration) registration.Email {
	e := registration.Email{Kind: kind, To: "someone@example.com", Lang: lang}
	switch {
	case kind.CarriesCode():
		e.Code, e.ValidFor = sampleCodes[0], validFor
	case kind == registration.EmailEmailChanged:
		e.NewEmail = registration.MaskEmail("someone.new@example.org")
	}
	return e
}

// sampleCodes are the codes of the sample emails. Two, so that a template that writes a code
// of its own instead of the email's is caught.
var sampleCodes = []string{"0427", "5190"}

// checkSample renders sample emails of kind in lang with et and checks each. An error names
// the file at fault.
func checkSample(et emailTemplates, kind registration.EmailKind, lang registration.Language, files map[string]string) error {
	for _, code := range sampleCodes {
		e := SampleEmail(kind, lang, time.Minute)
		if kind.CarriesCode() {
			e.Code = code
		}
		subject, text, html, err := et.execute(templateData(e))
		if err == nil {
			err = checkRendered(kind, e.Code, subject, text, html)
		}
		var pe *partError
		if errors.As(err, &pe) {
			name := templateName(lang, kind, pe.part)
			where, ok := files[name]
			if !ok {
				where = "built-in " + name
			}
			return fmt.Errorf("%s: %w", where, pe.err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func joinLanguages() string {
	s := make([]string, len(registration.Languages))
	for i, l := range registration.Languages {
		s[i] = string(l)
	}
	return strings.Join(s, " or ")
}

func joinKinds() string {
	s := make([]string, len(registration.EmailKinds))
	for i, k := range registration.EmailKinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}
