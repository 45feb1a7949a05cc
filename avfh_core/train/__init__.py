"""avfh_core.train"""
