package contract

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// ParseRoleARN checks a role ARN as IAM writes it and returns its
// partition: arn:<partition>:iam::<12-digit account>:role/[<path>/]<name>,
// the name 1–64 characters of [A-Za-z0-9_+=,.@-], the path, when there is
// one, IAM's rule: it begins and ends with "/", holds any ASCII character
// from "!" (U+0021) to DEL (U+007F), and is at most 512 characters with its
// slashes. With peer set (an STS endpoint outside AWS, see IsPeerEndpoint)
// the partition may be any [a-z][a-z0-9-]{0,62} and the account may be
// empty, as in MinIO's arn:minio:iam:::role/<id>; otherwise it is aws,
// aws-cn or aws-us-gov.
//
// The SDK's arn.Parse splits it; the rules are checked here rather than
// with a regular expression, whose bounded path repetition compiled into
// ~500 NFA states: matching it was a tenth of the webhook's CPU per
// admission. arn_test.go checks this against regular expressions of the same rules.
func ParseRoleARN(s string, peer bool) (partition string, ok bool) {
	a, err := arn.Parse(s)
	if err != nil || a.Service != "iam" || a.Region != "" {
		return "", false
	}
	if peer {
		ok = len(a.Partition) >= 1 && len(a.Partition) <= 63 && isLower(a.Partition[0]) && allBytes(a.Partition, isPartitionByte)
	} else {
		ok = a.Partition == "aws" || a.Partition == "aws-cn" || a.Partition == "aws-us-gov"
	}
	if !ok || !(len(a.AccountID) == 12 && allBytes(a.AccountID, isDigit) || peer && a.AccountID == "") {
		return "", false
	}
	rest, ok := strings.CutPrefix(a.Resource, "role/")
	if !ok {
		return "", false
	}
	// A name has no slash: everything up to the last one is the path
	// (after the leading "role/", which is its first slash).
	path, name := "", rest
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		path, name = rest[:i+1], rest[i+1:]
	}
	if len(path) > 511 || !allBytes(path, isPathByte) || len(name) < 1 || len(name) > 64 || !allBytes(name, isRoleNameByte) {
		return "", false
	}
	return a.Partition, true
}

func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool    { return '0' <= c && c <= '9' }
func isLower(c byte) bool    { return 'a' <= c && c <= 'z' }
func isPathByte(c byte) bool { return 0x21 <= c && c <= 0x7f }

func isPartitionByte(c byte) bool { return isLower(c) || isDigit(c) || c == '-' }

// isRoleNameByte: IAM's [\w+=,.@-].
func isRoleNameByte(c byte) bool {
	return isLower(c) || 'A' <= c && c <= 'Z' || isDigit(c) || strings.IndexByte("_+=,.@-", c) >= 0
}
