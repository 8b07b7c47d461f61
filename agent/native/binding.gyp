{
  "targets": [
    {
      "target_name": "flowlens_bpf",
      "sources": ["addon.cc", "bpf_object.cc", "load_errors.cc", "ring_stream.cc", "netns.cc", "conntrack_events.cc"],
      "include_dirs": ["../../bpf/include"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "libraries": ["-lbpf", "-lelf", "-lz"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
    }
  ]
}
