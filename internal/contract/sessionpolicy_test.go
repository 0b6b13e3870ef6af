package contract

import (
	"strings"
	"testing"
)

func TestValidateSessionPolicy(t *testing.T) {
	denyGet := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}]}`
	// pad fills a valid policy up to n characters with spaces before the
	// closing brace.
	pad := func(n int) string {
		base := strings.TrimSuffix(denyGet, "}")
		return base + strings.Repeat(" ", n-len(base)-1) + "}"
	}
	// latin1 is a valid policy of n characters whose Sid is made of 'é',
	// two bytes each in UTF-8.
	latin1 := func(n int) string {
		const head, tail = `{"Statement":[{"Sid":"`, `","Effect":"Deny","Action":"*","Resource":"*"}]}`
		return head + strings.Repeat("é", n-len(head)-len(tail)) + tail
	}
	cases := []struct {
		name, doc string
		wantErr   string // "" = valid
	}{
		{"deny one action", denyGet, ""},
		{"one statement as an object", `{"Statement":{"Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}}`, ""},
		{"old version, id, sid, condition, NotAction, NotResource", `{"Version":"2008-10-17","Id":"x","Statement":[{"Sid":"a","Effect":"Deny","NotAction":"s3:*","NotResource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, ""},
		{"indented over lines with tabs", "{\n\t\"Statement\": [\r\n\t\t{\"Effect\": \"Allow\", \"Action\": \"s3:GetObject\", \"Resource\": \"*\"}\n\t]\n}\n", ""},
		{"Latin-1 text is STS's character set", `{"Statement":[{"Sid":"café","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`, ""},
		{"exactly 2048 characters", pad(2048), ""},
		{"2049 characters", pad(2049), "the policy is 2049 characters long: STS accepts at most 2048"},
		{"2048 characters counted as characters, not bytes", latin1(2048), ""},
		{"2049 characters of which some take two bytes", latin1(2049), "the policy is 2049 characters long"},
		{"empty", "", "is empty"},
		{"not JSON", "Effect: Deny", "is not a JSON object"},
		{"a list", `[{"Effect":"Deny"}]`, "is not a JSON object"},
		{"null", `null`, "has no Statement"},
		{"two objects", denyGet + denyGet, "has more after the JSON object"},
		{"a character beyond \\u00FF", `{"Statement":[{"Sid":"€","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`, `has '€' at byte`},
		{"a control character", "{\"Statement\":[]}\x01", `has '\x01'`},
		{"unknown top-level element", `{"Statement":[],"Effect":"Deny"}`, `has element "Effect": a policy has Version, Id and Statement`},
		{"bad version", `{"Version":"2024-01-01","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`, `has Version "2024-01-01"`},
		{"no statement", `{"Version":"2012-10-17"}`, "has no Statement"},
		{"empty statement list", `{"Statement":[]}`, "neither an object nor a non-empty list"},
		{"statement a string", `{"Statement":"Deny"}`, "neither an object nor a non-empty list"},
		{"principal", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}`, "statement 1 has Principal: a session policy applies to the session itself"},
		{"lowercase effect element", `{"Statement":[{"effect":"Deny","Action":"*","Resource":"*"}]}`, `statement 1 has element "effect"`},
		{"effect missing", `{"Statement":[{"Action":"*","Resource":"*"}]}`, `statement 1 needs Effect "Allow" or "Deny"`},
		{"effect lowercase value", `{"Statement":[{"Effect":"deny","Action":"*","Resource":"*"}]}`, `needs Effect "Allow" or "Deny"`},
		{"no action", `{"Statement":[{"Effect":"Deny","Resource":"*"}]}`, "needs exactly one of Action and NotAction"},
		{"action and not action", `{"Statement":[{"Effect":"Deny","Action":"*","NotAction":"s3:*","Resource":"*"}]}`, "needs exactly one of Action and NotAction"},
		{"no resource", `{"Statement":[{"Effect":"Deny","Action":"*"}]}`, "needs exactly one of Resource and NotResource"},
		{"empty action list", `{"Statement":[{"Effect":"Deny","Action":[],"Resource":"*"}]}`, "needs Action to be a string or a non-empty list of strings"},
		{"numeric resource", `{"Statement":[{"Effect":"Deny","Action":"*","NotResource":7}]}`, "needs NotResource to be a string"},
		{"second statement bad", `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"},{"Effect":"Allow","Action":"*"}]}`, "statement 2 needs exactly one of Resource"},
		{"condition not an object", `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":"x"}]}`, "needs Condition to be an object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateSessionPolicy(tc.doc)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("want an error containing %q, got none", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestPolicyARNPartition(t *testing.T) {
	cases := map[string]string{ // ARN → partition, "" = not a policy ARN
		"arn:aws:iam::111111111111:policy/deny-writes":                 "aws",
		"arn:aws:iam::aws:policy/ReadOnlyAccess":                       "aws",
		"arn:aws-cn:iam::111111111111:policy/team/a/readonly":          "aws-cn",
		"arn:aws-us-gov:iam::aws:policy/service-role/x":                "aws-us-gov",
		"arn:minio:iam:::policy/readonly":                              "minio",
		"arn:aws:iam::111111111111:role/deny-writes":                   "",
		"arn:aws:iam::11111111111:policy/x":                            "",
		"arn:aws:iam::111111111111:policy/":                            "",
		"arn:aws:iam::111111111111:policy/has space":                   "",
		"arn:aws:s3:::bucket":                                          "",
		"deny-writes":                                                  "",
		"arn:aws:iam::111111111111:policy/" + strings.Repeat("n", 129): "",
	}
	for arn, want := range cases {
		got, ok := PolicyARNPartition(arn)
		if got != want || ok != (want != "") {
			t.Errorf("PolicyARNPartition(%q) = %q, %v; want %q", arn, got, ok, want)
		}
	}
}
