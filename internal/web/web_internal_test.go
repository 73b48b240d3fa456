package web

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

// copyFS answers the embedded files as a MapFS that a test may change.
func copyFS(t *testing.T) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(embedded, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(embedded, path)
		m[path] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNewFailsFast(t *testing.T) {
	if _, err := newHandler(Config{}, copyFS(t)); err != nil {
		t.Fatalf("the embedded files: %v", err)
	}
	for name, change := range map[string]func(fstest.MapFS){
		"a page is missing":     func(m fstest.MapFS) { delete(m, "templates/verify.html") },
		"the layout is missing": func(m fstest.MapFS) { delete(m, "templates/layout.html") },
		"a page does not parse": func(m fstest.MapFS) {
			m["templates/codes.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{if}}`)}
		},
		"a page has no content":  func(m fstest.MapFS) { m["templates/error.html"] = &fstest.MapFile{Data: []byte(`<p>hello</p>`)} },
		"the stylesheet missing": func(m fstest.MapFS) { delete(m, "static/style.css") },
		"the script is missing":  func(m fstest.MapFS) { delete(m, "static/app.js") },
	} {
		m := copyFS(t)
		change(m)
		if _, err := newHandler(Config{}, m); err == nil || !strings.HasPrefix(err.Error(), "web: ") {
			t.Errorf("%s: New answered %v", name, err)
		}
	}
}

// TestEveryTemplateIsAPage checks that no template file is left out of pages, where New would
// not check it.
func TestEveryTemplateIsAPage(t *testing.T) {
	files, err := fs.Glob(embedded, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{"templates/layout.html": true}
	for _, p := range pages {
		known["templates/"+p+".html"] = true
	}
	for _, f := range files {
		if !known[f] {
			t.Errorf("%s is not in pages", f)
		}
	}
}
