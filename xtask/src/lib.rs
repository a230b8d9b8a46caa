//! ksm-hotremove-harness: config -> build -> boot -> console -> verdict -> report.
