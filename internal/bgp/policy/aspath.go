package policy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

// delimiter is what the Cisco/FRR "_" stands for: the start or end of the
// path, or any character that separates ASNs in its text form (space, the
// braces of an AS_SET, the parentheses and brackets of confederation
// segments, the comma inside sets).
const delimiter = `(?:^|[ ,{}()\[\]]|$)`

// TranslateASPathRegex rewrites an AS-path regular expression of the config
// language into Go (RE2) syntax: every "_" outside a character class and not
// escaped becomes a delimiter match. Everything else is RE2 as is, so
// backreferences and lookaround are errors, and matching is in linear time.
// The AS path text never holds an underscore, so a literal "_" (escaped or in
// a class) can never match anything.
func TranslateASPathRegex(expr string) string {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case c == '\\' && i+1 < len(expr):
			b.WriteByte(c)
			i++
			b.WriteByte(expr[i])
		case inClass:
			b.WriteByte(c)
			if c == ']' {
				inClass = false
			} else if c == '[' && i+1 < len(expr) && expr[i+1] == ':' {
				// A POSIX class such as [:digit:] ends at its own ":]".
				if j := strings.Index(expr[i+2:], ":]"); j >= 0 {
					b.WriteString(expr[i+1 : i+2+j+2])
					i += 2 + j + 1
				}
			}
		case c == '[':
			b.WriteByte(c)
			inClass = true
			// A ']' right after '[' or '[^' is a literal member of the class.
			if i+1 < len(expr) && expr[i+1] == '^' {
				i++
				b.WriteByte('^')
			}
			if i+1 < len(expr) && expr[i+1] == ']' {
				i++
				b.WriteByte(']')
			}
		case c == '_':
			b.WriteString(delimiter)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// CompileASPathRegex compiles one AS-path regular expression of the config
// language (see TranslateASPathRegex). An empty expression is an error: it
// would match every path, which "permit .*" says explicitly.
func CompileASPathRegex(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, fmt.Errorf("empty regular expression; use .* to match every path or ^$ for locally originated routes")
	}
	re, err := regexp.Compile(TranslateASPathRegex(expr))
	if err != nil {
		// Report the error on the text the operator wrote, not on the
		// rewrite; FuzzASPathRegex checks both fail together.
		if _, orig := regexp.Compile(expr); orig != nil {
			err = orig
		}
		return nil, fmt.Errorf("regular expression %q: %w; want RE2 syntax, with _ for a delimiter", expr, err)
	}
	return re, nil
}

type asPathEntry struct {
	permit bool
	expr   string
	re     *regexp.Regexp
}

// ASPathList is a compiled AS-path access list.
type ASPathList struct {
	name    string
	entries []asPathEntry
	cache   pathCache
}

// pathCache remembers the list's verdict per path text. A fabric has few
// distinct paths (hundreds) and many routes sharing each, and a map hit costs
// a tenth of running even a short RE2 program (BenchmarkASPathList). It is
// memoisation of a pure function, bounded by clearing it when full.
type pathCache struct {
	mu sync.RWMutex
	m  map[string]uint8
}

const (
	pathCacheMax = 4096

	verdictNone   = 1
	verdictDeny   = 2
	verdictPermit = 3
)

// Name is the list's name.
func (l *ASPathList) Name() string { return l.name }

func compileASPathList(al config.ASPathList) (*ASPathList, error) {
	if len(al.Entries) == 0 {
		return nil, fmt.Errorf("as-path-list %q has no entries; add at least one permit or deny line", al.Name)
	}
	l := &ASPathList{name: al.Name}
	for i, e := range al.Entries {
		permit, err := action(e.Action)
		if err != nil {
			return nil, fmt.Errorf("as-path-list %q entry %d: %w", al.Name, i, err)
		}
		re, err := CompileASPathRegex(e.Regex)
		if err != nil {
			return nil, fmt.Errorf("as-path-list %q entry %d: %w", al.Name, i, err)
		}
		l.entries = append(l.entries, asPathEntry{permit: permit, expr: e.Regex, re: re})
	}
	return l, nil
}

// matchText decides on the path's text form: the first entry whose
// expression matches anywhere in it decides; none matching is a deny.
func (l *ASPathList) matchText(text []byte) (permit, matched bool) {
	c := &l.cache
	c.mu.RLock()
	v := c.m[string(text)]
	c.mu.RUnlock()
	if v == 0 {
		v = verdictNone
		for i := range l.entries {
			if l.entries[i].re.Match(text) {
				v = verdictDeny
				if l.entries[i].permit {
					v = verdictPermit
				}
				break
			}
		}
		c.mu.Lock()
		if len(c.m) >= pathCacheMax {
			clear(c.m)
		}
		if c.m == nil {
			c.m = make(map[string]uint8)
		}
		c.m[string(text)] = v
		c.mu.Unlock()
	}
	return v == verdictPermit, v != verdictNone
}

// Match reports the decision of the first entry that matches the path.
func (l *ASPathList) Match(p wire.ASPath) (permit, matched bool) {
	buf := getBuf()
	*buf = AppendASPath((*buf)[:0], p)
	permit, matched = l.matchText(*buf)
	putBuf(buf)
	return permit, matched
}

// AppendASPath appends the text form that AS-path regular expressions see,
// the same as wire.ASPath.String, without allocating a string.
func AppendASPath(dst []byte, p wire.ASPath) []byte {
	for i, s := range p {
		if i > 0 {
			dst = append(dst, ' ')
		}
		var open, sep, close byte = 0, ' ', 0
		switch s.Type {
		case wire.ASSet:
			open, sep, close = '{', ',', '}'
		case wire.ASConfedSequence:
			open, close = '(', ')'
		case wire.ASConfedSet:
			open, sep, close = '[', ',', ']'
		}
		if open != 0 {
			dst = append(dst, open)
		}
		for j, a := range s.ASNs {
			if j > 0 {
				dst = append(dst, sep)
			}
			dst = strconv.AppendUint(dst, uint64(a), 10)
		}
		if close != 0 {
			dst = append(dst, close)
		}
	}
	return dst
}

// bufPool holds path text buffers so that a match allocates nothing; Apply
// may run on many goroutines at once.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 4096 {
		bufPool.Put(b)
	}
}
