// The runtime's internals the tests reach (InternalsVisibleTo), by their Internal/ namespaces.
global using RpcGen.Balancing.Internal;
global using RpcGen.Client.Internal;
global using RpcGen.Resilience.Internal;
global using RpcGen.Server.Internal;
