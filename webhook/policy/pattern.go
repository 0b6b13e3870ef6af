// Package policy is the namespace role policy: the role ARN patterns a
// cluster admin lists in a namespace's rolechain.dev/allowed-role-arns
// annotation, how a pattern matches a role ARN, and Check, which judges
// every role a pod's chains would assume against its namespace's patterns.
//
// # The pattern rule
//
// A pattern is a role ARN, arn:<partition>:iam::<account>:role/[<path>/]<name>,
// in which '*' stands for any run of characters, possibly empty, that
// contains neither ':' nor '/'. Every other character matches only itself,
// case-sensitively. So '*' matches within one ARN segment (partition,
// account) or one element of the role's path or name, never across a
// segment or path boundary:
//
//	arn:aws:iam::111111111111:role/team-a-*   team-a-reader, not team-a/reader
//	arn:aws:iam::111111111111:role/team-a/*   team-a/reader, not team-a/x/reader
//	arn:aws:iam::*:role/ci                    role ci in every account
//	arn:*:iam::111111111111:role/ci           ci in every partition (aws, aws-cn, …)
//	arn:aws*:iam::111111111111:role/ci        aws, aws-cn, aws-us-gov
//
// The rule is narrower than IAM's ArnLike, whose '*' crosses '/' and which
// also knows '?': a pattern written for one path depth never admits roles
// deeper down, and '?' and "**" are rejected rather than read differently
// than an IAM author expects.
package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// Form is the accepted shape of a pattern, quoted in error messages.
const Form = "a role ARN pattern arn:<partition>:iam::<account>:role/[<path>/]<name> in which * matches any characters within one segment or path element (never ':' or '/')"

// Pattern is one parsed role ARN pattern.
type Pattern struct {
	// Text is the pattern as written (without surrounding spaces).
	Text string
	// tokens are the pattern's pieces between separators, seps the
	// separators (':' or '/') between them, in order: a role ARN matches
	// when it has the same separators and each piece matches its token.
	tokens []string
	seps   []byte
}

var (
	partitionChars = regexp.MustCompile(`^[a-z0-9*-]+$`)
	accountChars   = regexp.MustCompile(`^[0-9*]{0,12}$`)
	// IAM: a role name is 1-64 of [\w+=,.@-]; a path element is printable
	// ASCII (IAM allows \x21-\x7e in paths).
	nameChars = regexp.MustCompile(`^[\w+=,.@*-]{1,64}$`)
	pathChars = regexp.MustCompile(`^[\x21-\x7e]+$`)
)

// ParsePattern parses one pattern. Its error says what is wrong, without
// repeating the pattern.
func ParsePattern(text string) (Pattern, error) {
	switch {
	case text == "":
		return Pattern{}, fmt.Errorf("is empty")
	case strings.Contains(text, "**"):
		return Pattern{}, fmt.Errorf("has \"**\": * matches within one segment or path element only; list one pattern per path depth")
	case strings.Contains(text, "?"):
		return Pattern{}, fmt.Errorf("has \"?\": only * is a wildcard")
	}
	parts := strings.SplitN(text, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || parts[3] != "" || !strings.HasPrefix(parts[5], "role/") {
		return Pattern{}, fmt.Errorf("must have the shape arn:<partition>:iam::<account>:role/[<path>/]<name>")
	}
	if !partitionChars.MatchString(parts[1]) {
		return Pattern{}, fmt.Errorf("partition %q must be of [a-z0-9-] and *", parts[1])
	}
	if acct := parts[4]; !accountChars.MatchString(acct) || (!strings.Contains(acct, "*") && acct != "" && len(acct) != 12) {
		return Pattern{}, fmt.Errorf("account %q must be 12 digits, or digits and * (at most 12 characters)", acct)
	}
	elems := strings.Split(strings.TrimPrefix(parts[5], "role/"), "/")
	for i, e := range elems {
		last := i == len(elems)-1
		switch {
		case e == "" && last:
			return Pattern{}, fmt.Errorf("has no role name after the last '/'")
		case e == "":
			return Pattern{}, fmt.Errorf("has an empty path element ('//')")
		case last && !nameChars.MatchString(e):
			return Pattern{}, fmt.Errorf("role name %q must be 1-64 of [A-Za-z0-9_+=,.@-] and *", e)
		case !last && !pathChars.MatchString(e):
			return Pattern{}, fmt.Errorf("path element %q must be printable ASCII", e)
		}
	}
	p := Pattern{Text: text}
	p.tokens, p.seps = split(text)
	return p, nil
}

// split cuts s at every ':' and '/', returning the pieces and, between
// them, the separators.
func split(s string) ([]string, []byte) {
	var tokens []string
	var seps []byte
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ':' || s[i] == '/' {
			tokens = append(tokens, s[start:i])
			seps = append(seps, s[i])
			start = i + 1
		}
	}
	return append(tokens, s[start:]), seps
}

// Match reports whether arn matches the pattern.
func (p Pattern) Match(arn string) bool {
	tokens, seps := split(arn)
	return p.matchSplit(tokens, seps)
}

func (p Pattern) matchSplit(tokens []string, seps []byte) bool {
	if string(seps) != string(p.seps) {
		return false // '*' never spans a separator, so they must line up
	}
	for i, t := range p.tokens {
		if !globMatch(t, tokens[i]) {
			return false
		}
	}
	return true
}

// globMatch matches s against a pattern whose only wildcard is '*' (any
// run of bytes). Neither holds a separator here. The classic linear
// algorithm: on a mismatch, let the last '*' absorb one more byte.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Policy is a namespace's list of patterns.
type Policy []Pattern

// PatternError is one malformed entry of a pattern list.
type PatternError struct {
	// Entry is the entry as written (trimmed).
	Entry string
	// Reason says what is wrong with it.
	Reason error
}

func (e *PatternError) Error() string { return fmt.Sprintf("%q %v", e.Entry, e.Reason) }

// Parse parses a comma-separated list of patterns (spaces and line breaks
// around each are ignored). An empty or all-blank value is a policy with
// no patterns, which allows no role. Every malformed entry is returned;
// the policy is only usable when there are none.
func Parse(value string) (Policy, []*PatternError) {
	if strings.TrimSpace(value) == "" {
		return Policy{}, nil
	}
	var pol Policy
	var errs []*PatternError
	for _, entry := range strings.Split(value, ",") {
		entry = strings.TrimSpace(entry)
		p, err := ParsePattern(entry)
		if err != nil {
			errs = append(errs, &PatternError{Entry: entry, Reason: err})
			continue
		}
		pol = append(pol, p)
	}
	return pol, errs
}

// Match returns the first pattern that matches arn.
func (pol Policy) Match(arn string) (Pattern, bool) {
	tokens, seps := split(arn)
	for _, p := range pol {
		if p.matchSplit(tokens, seps) {
			return p, true
		}
	}
	return Pattern{}, false
}

// String lists the patterns as a comma-separated list.
func (pol Policy) String() string {
	texts := make([]string, len(pol))
	for i, p := range pol {
		texts[i] = p.Text
	}
	return strings.Join(texts, ", ")
}
