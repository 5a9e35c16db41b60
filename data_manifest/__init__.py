"""The course's data manifest, shipped inside ``course_utils`` as package data.

This folder sits at the top of the repository so that instructors find it;
``pyproject.toml`` installs it as ``course_utils.data_manifest``.
"""
