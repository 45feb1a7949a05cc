"""avfh_core.models"""
