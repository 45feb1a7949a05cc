"""avfh_core.losses"""
