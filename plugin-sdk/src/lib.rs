//! Placeholder: the plugin SDK lands with the plugin interface.
