package policy

import (
	"os"
	"strings"
	"testing"
)

// TestDocExamples compiles every YAML block of docs/policy.md, so the
// documentation cannot drift from what closd accepts.
func TestDocExamples(t *testing.T) {
	data, err := os.ReadFile("../../../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := 0
	rest := string(data)
	for {
		_, after, ok := strings.Cut(rest, "```yaml\n")
		if !ok {
			break
		}
		block, after, ok := strings.Cut(after, "```\n")
		if !ok {
			t.Fatal("unterminated yaml block")
		}
		rest = after
		blocks++
		s := mustCompile(t, block)
		if len(s.routeMaps)+len(s.prefixLists)+len(s.asPathLists)+len(s.communityLists) == 0 {
			t.Errorf("block %d defines nothing:\n%s", blocks, block)
		}
	}
	if blocks < 8 {
		t.Fatalf("found %d yaml blocks; the examples went missing", blocks)
	}
}
