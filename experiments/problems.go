package experiments

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Pos is a place in a Drill file; Line and Column count from 1, and zero
// means unknown.
type Pos struct {
	Line, Column int
}

// Problem is one thing wrong with a Drill file.
type Problem struct {
	// File is the file name given to Load or Parse.
	File string
	Pos  Pos
	// Path is the field path, e.g. spec.faults[1].networkChaos.action;
	// empty for problems of the file as a whole (YAML syntax).
	Path string
	// Detail says what is wrong, with the offending value.
	Detail string
	// Allowed lists what would be accepted, when that is a short list.
	Allowed []string
}

// Error prints "file:line:col: path: detail; allowed: a, b".
func (p *Problem) Error() string {
	var b strings.Builder
	b.WriteString(cmp.Or(p.File, "<input>"))
	if p.Pos.Line > 0 {
		b.WriteString(":" + strconv.Itoa(p.Pos.Line))
		if p.Pos.Column > 0 {
			b.WriteString(":" + strconv.Itoa(p.Pos.Column))
		}
	}
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Detail)
	if len(p.Allowed) > 0 {
		b.WriteString("; allowed: " + strings.Join(p.Allowed, ", "))
	}
	return b.String()
}

// Problems is every problem found in one or more Drill files, in file and
// line order. It is the error Load, Parse and LoadAll return for bad input;
// Error prints one problem per line.
type Problems []*Problem

// Error prints each problem on a line of its own.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each problem to errors.Is and errors.As.
func (ps Problems) Unwrap() []error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errs
}

// AsProblems returns the problems in err, if err is (or wraps) Problems.
func AsProblems(err error) (Problems, bool) {
	var ps Problems
	ok := errors.As(err, &ps)
	return ps, ok
}

// sort orders problems by file, line and column, keeping the order of
// problems found at the same place.
func (ps Problems) sort() {
	slices.SortStableFunc(ps, func(a, b *Problem) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Column, b.Pos.Column),
		)
	})
}

// err returns ps as an error, or nil when there are none (never a typed
// nil inside an interface).
func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	ps.sort()
	return ps
}

// positions maps a field path to where its value was written.
type positions map[string]Pos

// at returns the position of path, or of its nearest written ancestor, so
// that a missing field is reported where its parent is.
func (p positions) at(path string) Pos {
	for {
		if pos, ok := p[path]; ok {
			return pos
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return p[""]
		}
		path = path[:i]
	}
}

// has reports whether path was written in the file.
func (p positions) has(path string) bool {
	_, ok := p[path]
	return ok
}

// reporter collects problems for one file.
type reporter struct {
	file     string
	pos      positions
	problems Problems
	// seen records paths that already have a problem, so a second check
	// (Chaos Mesh's own validation) does not report the same field again.
	seen map[string]bool
}

func newReporter(file string, pos positions) *reporter {
	return &reporter{file: file, pos: pos, seen: map[string]bool{}}
}

// add reports a problem at path.
func (r *reporter) add(path string, allowed []string, format string, args ...any) {
	r.addAt(r.pos.at(path), path, allowed, format, args...)
}

// addAt reports a problem at an explicit position.
func (r *reporter) addAt(pos Pos, path string, allowed []string, format string, args ...any) {
	r.seen[path] = true
	r.problems = append(r.problems, &Problem{
		File: r.file, Pos: pos, Path: path,
		Detail: fmt.Sprintf(format, args...), Allowed: allowed,
	})
}

// child joins a field name to a path.
func child(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// index joins an index to a path.
func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// key joins a map key to a path.
func key(path, k string) string { return path + "[" + k + "]" }
