"""avfh_core.nn"""
