"""LSP glue for each feature beyond asking: importing this package registers their commands,
event hooks, connect hooks and code actions on the one server (``bridge.server.server``)."""
