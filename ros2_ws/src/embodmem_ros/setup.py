"""ament_python package of the embodmem ROS 2 nodes."""

import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "embodmem_ros"
# The project's parameter file, installed beside the launch files (their default params_file);
# setuptools wants it relative to the package folder, where colcon runs this file.
CONFIG = os.path.join("..", "..", "..", "configs", "ros_memory_server.yaml")

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.*")),
        (f"share/{PACKAGE}/config", [CONFIG]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="embodmem",
    maintainer_email="embodmem@example.com",
    description="ROS 2 nodes that keep and serve an embodmem.EmbodiedMemory.",
    license="MIT",
    entry_points={
        "console_scripts": [
            f"{name} = {PACKAGE}.{name}:main"
            for name in ("memory_server", "thor_bridge", "planner_node")
        ]
    },
)
