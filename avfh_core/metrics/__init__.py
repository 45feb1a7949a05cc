"""avfh_core.metrics"""
