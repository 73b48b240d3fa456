package web

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/twofold-auth/twofold/internal/account"
	"github.com/twofold-auth/twofold/internal/errs"
)

// form is what a page's form shows again after a refusal: the values typed (never a password
// or a code) and the error, next to the field it concerns or, when no single field fits, in an
// alert at the top of the form that the form's first field refers to.
type form struct {
	Values url.Values
	Errors map[string]string
	Alert  string
}

func newForm(values url.Values) *form {
	if values == nil {
		values = url.Values{}
	}
	return &form{Values: values, Errors: map[string]string{}}
}

// Value answers what was typed into a field, without the characters account.UnsafeRune
// forbids: a refused control character is not sent back raw into the page.
func (f *form) Value(name string) string {
	return strings.Map(func(r rune) rune {
		if account.UnsafeRune(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(f.Values.Get(name), ""))
}

// Err answers the error shown next to a field.
func (f *form) Err(name string) string { return f.Errors[name] }

// fail shows err next to field, or in the alert when field is "".
func (f *form) fail(err error, field string) *form {
	msg := errs.As(err).Message
	if field == "" {
		f.Alert = msg
	} else {
		f.Errors[field] = msg
	}
	return f
}

// field is one labelled input as templates/layout.html's "field" renders it: the label, a hint,
// the error, and aria-describedby and aria-invalid tying them to the input.
type field struct {
	ID, Name, Label, Type, Hint, Value  string
	Autocomplete, InputMode, MaxLength  string
	Required, Autofocus, Plain, Invalid bool
	Error, DescribedBy                  string
}

// newField builds a field from the form and key-value pairs: name, label, type (default text),
// hint, describedby (the id of more text about the field), autocomplete, inputmode,
// maxlength, and the flags required, autofocus, first (the
// field the form's alert belongs to), keep (show the typed value again) and plain (no spell
// checking or capitals, for codes and names).
func newField(f *form, kv ...string) (*field, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("field: odd number of arguments")
	}
	fd := &field{Type: "text"}
	var first, keep, autofocus bool
	var extra string
	for i := 0; i < len(kv); i += 2 {
		k, v := kv[i], kv[i+1]
		switch k {
		case "name":
			fd.Name = v
		case "id":
			fd.ID = v
		case "label":
			fd.Label = v
		case "type":
			fd.Type = v
		case "hint":
			fd.Hint = v
		case "value":
			fd.Value = v
		case "autocomplete":
			fd.Autocomplete = v
		case "inputmode":
			fd.InputMode = v
		case "maxlength":
			fd.MaxLength = v
		case "required":
			fd.Required = v != ""
		case "autofocus":
			autofocus = v != ""
		case "first":
			first = v != ""
		case "keep":
			keep = v != ""
		case "plain":
			fd.Plain = v != ""
		case "describedby":
			extra = v
		default:
			return nil, fmt.Errorf("field: unknown key %q", k)
		}
	}
	if fd.Name == "" || fd.Label == "" {
		return nil, fmt.Errorf("field: name and label are required")
	}
	if fd.ID == "" {
		fd.ID = fd.Name
	}
	if keep && fd.Value == "" {
		fd.Value = f.Value(fd.Name)
	}
	fd.Error = f.Err(fd.Name)
	fd.Invalid = fd.Error != ""
	var ids []string
	if extra != "" {
		ids = append(ids, extra)
	}
	if fd.Hint != "" {
		ids = append(ids, fd.ID+"-hint")
	}
	if fd.Error != "" {
		ids = append(ids, fd.ID+"-error")
	}
	if first && f.Alert != "" {
		ids = append(ids, "form-alert")
	}
	fd.DescribedBy = strings.Join(ids, " ")
	// Focus goes to the field in error, else to the one the page asks for.
	fd.Autofocus = fd.Error != "" || autofocus && len(f.Errors) == 0
	return fd, nil
}
