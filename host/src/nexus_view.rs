//! The HDF5 file as the evaluator reads it: [`NexusFile`] implements
//! `scicat_evaluator::data::DataFile`, its one-line reasons becoming
//! [`NexusError`]s (HDF5 does not say which kind of failure a reason is, so
//! they are all [`NexusError::Read`]).

use scicat_evaluator::data::{Array, DataFile, Kind, NexusError};

use crate::nexus::NexusFile;

impl DataFile for NexusFile {
    fn kind(&self, path: &str) -> Result<Kind, NexusError> {
        NexusFile::kind(self, path).map_err(NexusError::Read)
    }

    fn children(&self, path: &str) -> Result<Vec<(String, Kind)>, NexusError> {
        NexusFile::children(self, path).map_err(NexusError::Read)
    }

    fn read(&self, path: &str) -> Result<Array, NexusError> {
        NexusFile::read(self, path).map_err(NexusError::Read)
    }

    fn read_slice(&self, path: &str, start: &[u64], count: &[u64]) -> Result<Array, NexusError> {
        NexusFile::read_slice(self, path, start, count).map_err(NexusError::Read)
    }

    fn attribute_names(&self, path: &str) -> Result<Vec<String>, NexusError> {
        NexusFile::attribute_names(self, path).map_err(NexusError::Read)
    }

    fn read_attribute(&self, path: &str, name: &str) -> Result<Array, NexusError> {
        NexusFile::read_attribute(self, path, name).map_err(NexusError::Read)
    }

    fn units(&self, path: &str) -> Option<String> {
        NexusFile::units(self, path)
    }

    fn expand(&self, pattern: &str) -> Result<Vec<String>, NexusError> {
        NexusFile::expand(self, pattern).map_err(NexusError::Read)
    }

    /// One pass over the groups (not `expand` then `read` per path).
    fn read_each(&self, pattern: &str) -> Result<Vec<Array>, NexusError> {
        NexusFile::read_each(self, pattern).map_err(NexusError::Read)
    }
}
