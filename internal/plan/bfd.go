package plan

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseBFDTimers reads the planner's BFD timer shorthand INTERVALxMULT
// (interval in ms), e.g. "50x3" or "10x3", as both closd and FRR accept
// them: interval 10..60000 ms, multiplier 2..255.
func ParseBFDTimers(s string) (interval, mult int, err error) {
	const want = "want INTERVALxMULTIPLIER with the interval in ms 10..60000 and the multiplier 2..255, e.g. 50x3 or 10x3"
	a, b, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "x")
	if !ok {
		return 0, 0, fmt.Errorf("%q: %s", s, want)
	}
	interval, err1 := strconv.Atoi(strings.TrimSuffix(a, "ms"))
	mult, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || interval < 10 || interval > 60000 || mult < 2 || mult > 255 {
		return 0, 0, fmt.Errorf("%q: %s", s, want)
	}
	return interval, mult, nil
}
