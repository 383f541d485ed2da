"""Process utilities every layer may use: secrets, Prometheus metrics, periodic tasks, the IOLoop lag
monitor and the registry of open sockets. They import nothing of Eddy's own layers."""
