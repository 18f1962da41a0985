// TEMPORARY stub until the real module lands.
use crate::error::Result;
#[derive(Debug, Clone, PartialEq)]
pub struct PreprocessConfig { pub size: u32 }
impl PreprocessConfig {
    pub fn clip_default(image_size: u32) -> Self { Self { size: image_size } }
    pub fn from_json(_text: &str, _file: &str, image_size: u32) -> Result<Self> { Ok(Self { size: image_size }) }
    pub fn output_size(&self) -> (u32, u32) { (self.size, self.size) }
}
pub fn preprocess(_bytes: &[u8], _name: &str, _cfg: &PreprocessConfig) -> Result<Vec<f32>> { todo!() }
