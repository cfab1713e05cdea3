"""hfbuckets — huggingface_hub-style bucket API and an fsspec `hf://` filesystem
over libbuckets (the C client of this repository).

    from hfbuckets import create_bucket, list_bucket_tree, sync_bucket, hffs
"""
from ._buckets import (BucketFile, BucketFolder, BucketInfo, BucketUrl, HfUri, SyncOperation,
                       SyncPlan)
from .errors import (BadRequestError, BucketNotFoundError, BucketsError, EntryNotFoundError,
                     HfHubConnectionError, HfHubHTTPError, RemoteEntryNotFoundError,
                     RepositoryNotFoundError, SyncIncompleteError, SyncPlanStaleError)
from .hf_api import (BucketFileMetadata, HfApi, XetFileData, batch_bucket_files, bucket_info,
                     copy_files, create_bucket, delete_bucket, download_bucket_files,
                     get_bucket_file_metadata, get_bucket_paths_info, list_bucket_tree,
                     list_buckets, move_bucket, prewarm_bucket, sync_bucket,
                     update_bucket_settings, whoami)
from .fs import HfFileSystem, hffs

__version__ = "0.1.0"

__all__ = [
    "BadRequestError", "BucketFile", "BucketFileMetadata", "BucketFolder", "BucketInfo",
    "BucketNotFoundError", "BucketUrl", "BucketsError", "EntryNotFoundError", "HfApi",
    "HfFileSystem", "HfHubConnectionError", "HfHubHTTPError", "HfUri", "RemoteEntryNotFoundError",
    "RepositoryNotFoundError", "SyncIncompleteError", "SyncOperation", "SyncPlan",
    "SyncPlanStaleError", "XetFileData",
    "batch_bucket_files", "bucket_info", "copy_files", "create_bucket", "delete_bucket",
    "download_bucket_files", "get_bucket_file_metadata", "get_bucket_paths_info", "hffs",
    "list_bucket_tree", "list_buckets", "move_bucket", "prewarm_bucket", "sync_bucket",
    "update_bucket_settings",
    "whoami",
]
