"""ROS 2 nodes that keep and serve an `embodmem.EmbodiedMemory` (conversion only: the memory
logic lives in the embodmem package)."""
