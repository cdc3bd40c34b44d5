//! A report's record batches handed to Python through the Arrow C data interface, without
//! copying: [`ReportStream`] implements the Arrow PyCapsule protocol
//! (`__arrow_c_stream__`, `__arrow_c_schema__`), which `pyarrow.table`,
//! `pyarrow.RecordBatchReader.from_stream`, polars and DuckDB all accept.

use std::ffi::CStr;

use arrow_array::ffi::FFI_ArrowSchema;
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{RecordBatch, RecordBatchIterator};
use arrow_schema::SchemaRef;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

const STREAM_CAPSULE: &CStr = c"arrow_array_stream";
const SCHEMA_CAPSULE: &CStr = c"arrow_schema";

/// The rows of one report: Arrow record batches that share one schema (with the report's
/// metadata). Each call of `__arrow_c_stream__` exports all of them again; the batches'
/// buffers are shared, not copied.
#[pyclass(module = "memform._memform", frozen)]
pub struct ReportStream {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl ReportStream {
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> ReportStream {
        ReportStream { schema, batches }
    }
}

#[pymethods]
impl ReportStream {
    /// An `ArrowArrayStream` in a capsule; the consumer moves it out, and the capsule
    /// releases whatever is left when it is collected.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // The protocol lets a producer that cannot cast ignore the request.
        let _ = requested_schema;
        let batches = self.batches.clone().into_iter().map(Ok);
        let reader = RecordBatchIterator::new(batches, self.schema.clone());
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new_with_value(py, stream, STREAM_CAPSULE)
    }

    /// The schema as an `ArrowSchema` in a capsule.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let schema = FFI_ArrowSchema::try_from(self.schema.as_ref())
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        PyCapsule::new_with_value(py, schema, SCHEMA_CAPSULE)
    }

    /// Rows in all batches.
    #[getter]
    fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    fn __repr__(&self) -> String {
        format!(
            "<memform report stream: {} rows in {} batches>",
            self.num_rows(),
            self.batches.len()
        )
    }
}
