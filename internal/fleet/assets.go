package fleet

// Assets are what a stack's template needs published in each target account and region before
// it deploys: the file assets of a CDK stack, and the CDK bootstrap they go through.
type Assets struct {
	// Files are published in order; each is uploaded once per destination (content-addressed
	// keys: an object already there is not written again).
	Files []FileAsset
	// BootstrapVersion is the least version of the CDK bootstrap the stack needs, read from the
	// SSM parameter BootstrapParameter in each target; 0 checks nothing.
	BootstrapVersion   int
	BootstrapParameter string
}

// FileAsset is one file or directory (zipped) published to an S3 bucket. Bucket, Key and Role
// may hold the placeholders ${AWS::AccountId}, ${AWS::Region} and ${AWS::Partition}, replaced
// for each target.
type FileAsset struct {
	ID   string
	Name string // for messages (the CDK's displayName)
	// Path is the absolute path of the file or directory; Zip packs a directory as a zip.
	Path string
	Zip  bool
	// Bucket and Key are the destination; Role, if set, is assumed to write there (the CDK's
	// file-publishing role).
	Bucket, Key, Role string
}
