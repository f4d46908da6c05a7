"""The control plane's HTTP layer: one router per resource, one error renderer. Handlers call
domain functions (``modelpilot.control.*``) and never touch tables directly."""
