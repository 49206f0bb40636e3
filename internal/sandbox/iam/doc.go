// Package iam holds the identities of the sandbox: the access keys every request is
// authenticated by (long-term keys and STS sessions), the IAM roles of every account, and the
// evaluation of the trust policies that decide who may assume them. It serves no API of its
// own; STS and CloudFormation act on it.
package iam
