"""speechbrain-unlearn: machine unlearning recipes and methods for SpeechBrain."""

import os

from setuptools import find_packages, setup

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "README.md"), encoding="utf-8") as fh:
    long_description = fh.read()

setup(
    name="speechbrain-unlearn",
    version="0.1.0",
    description="Make trained SpeechBrain models forget: unlearning recipes, methods and evaluation",
    long_description=long_description,
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["speechbrain_unlearn", "speechbrain_unlearn.*"]),
    package_data={"speechbrain_unlearn": ["log-config.yaml"]},
    python_requires=">=3.9",
    install_requires=[
        "speechbrain>=1.1",
        "torch>=2.6",  # torch.load defaults to weights_only: SpeechBrain's own checkpoint loads are safe
        "torchaudio",
        "hyperpyyaml",
        "pyyaml",
        "sentencepiece",
        "numpy",
        "scipy",
        "scikit-learn",
        "matplotlib",
    ],
    extras_require={
        "synth": ["espeakng-loader"],
        "test": ["pytest", "ruff", "yamllint", "import-linter"],
    },
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Speech",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
