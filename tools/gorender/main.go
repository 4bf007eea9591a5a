// Command gorender is the reference renderer berth is tested against: Go's own text/template,
// standard library only.
//
//	gorender cases FILE.json   run a corpus of cases, print one JSON result per case
//	gorender dir DIR DATA.json render every *.yaml in DIR (sorted), like `berth render`,
//	                           with include, dict and nindent as in Sprig/Helm
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
)

type testCase struct {
	Name      string            `json:"name"`
	Templates map[string]string `json:"templates"`
	Main      string            `json:"main"`
	Data      json.RawMessage   `json:"data"`
}

type result struct {
	Name  string `json:"name"`
	Ok    bool   `json:"ok"`
	Out   string `json:"out"`
	Err   string `json:"err"`
	Phase string `json:"phase"`
}

// normalize turns json.Number into int (when integral and in range) or float64,
// matching berth's data model.
func normalize(v interface{}) interface{} {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	case map[string]interface{}:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case []interface{}:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	}
	return v
}

func decode(raw []byte) (interface{}, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v interface{}
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return normalize(v), nil
}

func runCase(c testCase) (r result) {
	r.Name = c.Name
	defer func() {
		if p := recover(); p != nil {
			r.Ok = false
			r.Phase = "panic"
			r.Err = fmt.Sprint(p)
		}
	}()
	names := make([]string, 0, len(c.Templates))
	for n := range c.Templates {
		names = append(names, n)
	}
	sort.Strings(names)
	root := template.New(c.Main).Option("missingkey=error")
	for _, n := range names {
		if _, err := root.New(n).Parse(c.Templates[n]); err != nil {
			r.Phase = "parse"
			r.Err = err.Error()
			return
		}
	}
	data, err := decode(c.Data)
	if err != nil {
		r.Phase = "data"
		r.Err = err.Error()
		return
	}
	var buf bytes.Buffer
	if err := root.ExecuteTemplate(&buf, c.Main, data); err != nil {
		r.Phase = "exec"
		r.Err = err.Error()
		r.Out = buf.String()
		return
	}
	r.Ok = true
	r.Out = buf.String()
	return
}

// empty is Sprig's: nil, false, 0, and empty strings, lists and maps.
func empty(v interface{}) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case string:
		return x == ""
	case float64:
		return x == 0
	case int:
		return x == 0
	case []interface{}:
		return len(x) == 0
	case map[string]interface{}:
		return len(x) == 0
	}
	return false
}

func renderDir(dir, dataFile string) error {
	raw, err := os.ReadFile(dataFile)
	if err != nil {
		return err
	}
	data, err := decode(raw)
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var files, helpers []string
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) && !strings.HasPrefix(n, "variables.") && n != "variables.yaml" {
			files = append(files, n)
		}
		// Helper files: parsed for their defines, never executed themselves.
		if !e.IsDir() && strings.HasSuffix(n, ".tpl") {
			helpers = append(helpers, n)
		}
	}
	sort.Strings(files)
	sort.Strings(helpers)
	root := template.New("").Option("missingkey=error")
	root.Funcs(template.FuncMap{
		"include": func(name string, data interface{}) (string, error) {
			var b bytes.Buffer
			err := root.ExecuteTemplate(&b, name, data)
			return b.String(), err
		},
		"dict": func(kv ...interface{}) map[string]interface{} {
			m := map[string]interface{}{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[fmt.Sprint(kv[i])] = kv[i+1]
			}
			return m
		},
		// Sprig's quote and default, as Helm has them (the example folder uses them).
		"quote": func(args ...interface{}) string {
			out := []string{}
			for _, a := range args {
				if a != nil {
					out = append(out, fmt.Sprintf("%q", fmt.Sprint(a)))
				}
			}
			return strings.Join(out, " ")
		},
		"default": func(d interface{}, given ...interface{}) interface{} {
			if len(given) == 0 || empty(given[0]) {
				return d
			}
			return given[0]
		},
		"nindent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return "\n" + pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
	})
	for _, f := range append(helpers, files...) {
		text, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		if _, err := root.New(f).Parse(string(text)); err != nil {
			return err
		}
	}
	out := bytes.Buffer{}
	for _, f := range files {
		fmt.Fprintf(&out, "---\n# Source: %s\n", f)
		if err := root.ExecuteTemplate(&out, f, data); err != nil {
			return err
		}
	}
	_, err = os.Stdout.Write(out.Bytes())
	return err
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: gorender cases FILE.json | gorender dir DIR DATA.json")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "cases":
		raw, err := os.ReadFile(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		var cases []testCase
		if err := json.Unmarshal(raw, &cases); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		results := make([]result, 0, len(cases))
		for _, c := range cases {
			results = append(results, runCase(c))
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(results); err != nil {
			os.Exit(1)
		}
	case "dir":
		if len(os.Args) < 4 {
			os.Exit(2)
		}
		if err := renderDir(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	default:
		os.Exit(2)
	}
}
