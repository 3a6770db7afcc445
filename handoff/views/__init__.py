"""HTTP and WebSocket views: thin handlers over the services in handoff/."""
