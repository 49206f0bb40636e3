package cfn

// API is the client interface the Deployer needs, for fakes in external tests.
type API = cfnAPI

// NewDeployerWithAPI builds a Deployer on a fake client.
var NewDeployerWithAPI = newDeployer

// Template readers, for their own tests.
var (
	TemplateDefaults = templateDefaults
	TemplateAdds     = templateAdds
)
